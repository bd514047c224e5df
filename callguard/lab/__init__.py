"""The local lab PBX: a real Asterisk, mosquitto, callguard and SIPp phones on loopback."""

from callguard.lab.errors import LabError
from callguard.lab.lab import Lab, LabPorts, LabState

__all__ = ["Lab", "LabError", "LabPorts", "LabState"]
