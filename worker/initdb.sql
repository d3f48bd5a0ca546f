-- The example app's own database, next to Temporal's (created on first start).
CREATE USER app WITH PASSWORD 'app';
CREATE DATABASE hotel OWNER app;
