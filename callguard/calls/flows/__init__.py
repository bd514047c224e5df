"""The call's flows: each concern is a module of (call, event, now) -> effects functions.

start (decision: refuse, greet, authorise, ring), dialogue (prompts and DTMF sub-flows),
authorize (OUT-3 PIN and matter code), ringing (hops, legs, ANS-1 limits, connect), transfer
(XFER-2), message (XFER-3), duration (OUT-4) and ending (hang-ups, the final record).
"""
