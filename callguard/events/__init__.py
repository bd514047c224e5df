"""Operations events: every log event of a call is also published on MQTT, without ever blocking a call."""

from callguard.events.mqtt import MqttPublisher, topic_for

__all__ = ["MqttPublisher", "topic_for"]
