"""The HTTP layer of the simulated robot: routes, middleware, error handlers and the models that
describe every request and answer in ``/openapi.json``.

Routes only translate HTTP: they take the manager they need as a dependency
(``dependencies.py``), call it, and wrap its answer; the robot's rules live in the managers.
"""
