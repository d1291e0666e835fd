"""The JSON API (``/api/v1``): thin routers that parse, call a service and serialise; ``app.routes``
includes them."""
