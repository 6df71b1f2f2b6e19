#!/usr/bin/env bash
# scripts/infra.sh for the stub stack: PostgreSQL and RabbitMQ are not needed
exit 0
