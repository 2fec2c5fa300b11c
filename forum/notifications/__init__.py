"""In-app notifications, their e-mail channel and specialty alerts (issue 7, points 1 and 2)."""
