"""Read models folded from the events: entitlement timelines, facility utilisation and
contract summaries (see `projector`), kept inline and rebuildable (see `rebuild`)."""
