"""From other supervisors to pilot.json5: `pilot convert` (ContainerPilot v2 and v3) and
`pilot import` (supervisord), each checked by pilot's own loader before it is written."""
