# ruff: noqa
# Seed 004's "Testing" section, verbatim: its code blocks one after the other, with
# the import of Scheduler added. Not collected by the suite (no test_ prefix):
# tests/scheduler/test_seed004_verbatim.py copies it into an empty directory and runs
# pytest there against a dev server, as a user's project would.
import pytest
import asyncio
from datetime import datetime

from durable_automation import Scheduler

def test_scheduler_initialization():
    scheduler = Scheduler()
    assert len(scheduler.tasks) == 0
    assert not scheduler.is_running()

def test_add_task():
    scheduler = Scheduler()
    
    def test_func():
        pass
    
    scheduler.add_task("test", test_func, 60)
    
    assert "test" in scheduler.tasks
    assert scheduler.tasks["test"].name == "test"
    assert scheduler.tasks["test"].interval_seconds == 60
    assert scheduler.tasks["test"].enabled == True

def test_task_control():
    scheduler = Scheduler()
    scheduler.add_task("test", lambda: None, 60)
    
    # Test disable
    scheduler.disable_task("test")
    assert not scheduler.tasks["test"].enabled
    
    # Test enable
    scheduler.enable_task("test")
    assert scheduler.tasks["test"].enabled
    
    # Test remove
    scheduler.remove_task("test")
    assert "test" not in scheduler.tasks

@pytest.mark.asyncio
async def test_task_execution():
    scheduler = Scheduler()
    
    # Variable para verificar ejecución
    execution_count = 0
    
    def test_task():
        nonlocal execution_count
        execution_count += 1
    
    # Añadir tarea con intervalo corto
    scheduler.add_task("test", test_task, 1)  # 1 segundo
    
    # Ejecutar scheduler brevemente
    task = asyncio.create_task(scheduler.start())
    await asyncio.sleep(2.5)  # Esperar 2.5 segundos
    scheduler.stop()
    
    # Verificar que la tarea se ejecutó al menos 2 veces
    assert execution_count >= 2

@pytest.mark.asyncio
async def test_async_task_execution():
    scheduler = Scheduler()
    
    execution_count = 0
    
    async def async_task():
        nonlocal execution_count
        execution_count += 1
        await asyncio.sleep(0.1)  # Simular trabajo async
    
    scheduler.add_task("async_test", async_task, 1)
    
    # Test execution
    task = asyncio.create_task(scheduler.start())
    await asyncio.sleep(2.5)
    scheduler.stop()
    
    assert execution_count >= 2
