from pydantic import BaseModel

from durable_automation import complete, engine, step, workflow


@workflow("smoke_dev_echo")
class SmokeDevEcho:
    class Context(BaseModel):
        value: int

    @step(start=True)
    def run(self):
        return complete(value=1)


def test_runs_on_dev_server(dev_worker):
    run = engine.start("smoke_dev_echo", value=3)
    assert run.result(timeout=20) == {"value": 1}
