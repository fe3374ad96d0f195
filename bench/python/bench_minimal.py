"""The bench's minimal python3 handler: the original driver's raw call
convention (proplists in, ``(0, True)`` out), without the PyPI SDK's
decorators, so its rows show what the driver itself costs."""


def init():
    hooks = [("client_authenticate", "on_client_authenticate"),
             ("client_connected", "on_client_connected")]
    return (0, ([(hook, __name__, function, []) for hook, function in hooks], None))


def deinit():
    pass


def on_client_authenticate(clientinfo, authresult, state):
    return (0, True)


def on_client_connected(clientinfo, state):
    return None
