"""Beyond: a data scientist's model as a service. core/ (the domain, no HTTP) and web/ (the
panel and the API); the model is in model/, the workers in scheduler/."""

__version__ = "0.1.0"
