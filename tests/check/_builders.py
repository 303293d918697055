"""Short constructors for hand-written histories, shared by the checker tests."""

from consistency_lab.check import Operation


def op(client, inp, call, ret, out=None, status="ok"):
    """One operation; arguments in the order a history is read aloud."""
    return Operation(client, inp, call, out, ret, status)


def w(client, v, call, ret):
    """A completed register write of ``v``."""
    return op(client, ("write", v), call, ret)


def r(client, v, call, ret):
    """A completed register read that returned ``v``."""
    return op(client, ("read", None), call, ret, v)
