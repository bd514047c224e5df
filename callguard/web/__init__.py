"""The console (`callguard web`): records by role (LOG-3), masked numbers (SEC-2), every read audited."""
