"""Alert delivery: the alert topic follower and the Alertmanager bridge."""
