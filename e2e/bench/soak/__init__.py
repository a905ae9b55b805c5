"""The kill-soak: releases under controller kills, API server restarts and a Prometheus outage."""
