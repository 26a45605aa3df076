"""python -m contracts.kafka: regenerate the Kafka message schemas."""

from contracts.kafka import write_all

for path in write_all():
    print(path)
