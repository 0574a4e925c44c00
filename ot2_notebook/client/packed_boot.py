"""The start-up code of a packed protocol: copied verbatim into every protocol that
:mod:`ot2_notebook.client.packing` packs for robot software 5 and later, where it runs on the
robot, inside the protocol, before the protocol's own first line.

Robot software 5+ takes one Python file per protocol: every uploaded ``.py`` is a candidate
main protocol and only ``.csv``/``.txt`` travel as data, while the protocol runs with the
robot-server's working directory and ``sys.path``. A bundle's helper modules and data files
are therefore embedded in the protocol file, and this code makes them work as they do on a
4.x robot, where they lay beside the protocol in its folder:

* ``import helpers`` (anywhere: at the top of the protocol, inside ``run()``, inside another
  embedded module) gives the embedded module, compiled under its own file name
  (``helpers.py``) so that its tracebacks name it and its own line numbers;
* ``open("config.json")`` (and ``"./config.json"``) reads an embedded file, in any read mode;
  every other path goes to the real ``open``.

What it touches, and for how long. Nothing is written anywhere. The protocol's namespace
gets ``open`` and a private builtins mapping (whose ``__import__`` and ``open`` know the
bundle), so every function the protocol defines, and every embedded module, resolves through
the bundle for as long as it lives. The protocol's own top-level statements run with the
interpreter's builtins, so while they run (from the packed file's second line to its last
line, ``__ot2nb_end__()``) ``builtins.__import__`` is wrapped: the wrapper serves an embedded
module only to an importer whose globals carry this bundle, and hands every other import to
the original unchanged. The wrapper is removed by the last line (of the last packed protocol
still starting up, when several do at once). An embedded module is entered in
``sys.modules`` only while its own top-level code runs (as ``importlib`` does; dataclasses
need it), and the previous entry is put back afterwards, so protocols analysed one after
another in the same robot-server process never see each other's modules.

Constraints: the robot's Python (3.7 on robot software 5-6, 3.10 on 7-8): no newer syntax;
standard library only; one function, :func:`install`, called once per execution of the
protocol file (the robot executes it several times: analysis, run-time parameters, run).
"""


def install(namespace, files):
    """Make the embedded ``files`` ({file name: str or bytes}) importable and openable for
    the protocol whose globals are ``namespace``; ``namespace["__ot2nb_end__"]()`` ends the
    start-up (called by the packed file's last line)."""
    import builtins
    import io
    import os
    import sys
    import threading
    import types
    import weakref

    read_modes = frozenset("rbt")

    class Bundle:
        """The embedded files of one execution of the protocol file, and its modules."""

        def __init__(self, contents):
            self.files = dict(contents)
            self.modules = {}
            self.builtins = dict(vars(builtins))
            self.builtins["__import__"] = bundle_import
            self.builtins["open"] = self.open

        def data(self, file):
            """The embedded bytes of ``file`` (a bare name or ``./name``), or ``None``."""
            if isinstance(file, bytes):
                try:
                    file = file.decode("utf-8")
                except UnicodeDecodeError:
                    return None
            try:
                name = os.fspath(file)
            except TypeError:
                return None
            if not isinstance(name, str):
                return None
            while name.startswith("./"):
                name = name[2:]
            content = self.files.get(name)
            if content is None:
                return None
            return content.encode("utf-8") if isinstance(content, str) else content

        def open(
            self,
            file,
            mode="r",
            buffering=-1,
            encoding=None,
            errors=None,
            newline=None,
            closefd=True,
            opener=None,
        ):
            content = self.data(file) if isinstance(mode, str) else None
            if content is None or not set(mode) <= read_modes:
                return real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
            if "b" in mode:
                return io.BytesIO(content)
            return io.TextIOWrapper(
                io.BytesIO(content), encoding=encoding or "utf-8", errors=errors, newline=newline
            )

        def module(self, name):
            """The embedded module ``name`` (its code run on first use), or ``None``."""
            loaded = self.modules.get(name)
            if loaded is not None:
                return loaded
            file_name = name + ".py"
            source = self.files.get(file_name)
            if source is None or "." in name:
                return None
            code = compile(source, file_name, "exec", dont_inherit=True)
            module = types.ModuleType(name)
            module.__dict__.update(
                __file__=file_name,
                __builtins__=self.builtins,
                __ot2nb_bundle__=self,
                __package__="",
            )
            self.modules[name] = module  # first, for imports that go round in a circle
            with lock:
                previous = sys.modules.get(name)
                sys.modules[name] = module
            try:
                exec(code, module.__dict__)
            except BaseException:
                del self.modules[name]
                raise
            finally:
                with lock:
                    if sys.modules.get(name) is module:
                        if previous is None:
                            del sys.modules[name]
                        else:
                            sys.modules[name] = previous
            return module

    def bundle_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and globals is not None:
            try:
                bundle = globals.get("__ot2nb_bundle__")
            except AttributeError:
                bundle = None
            if bundle is not None:
                module = bundle.module(name)
                if module is not None:
                    return module
        return original_import(name, globals, locals, fromlist, level)

    # One state for every packed protocol in this process: the original __import__, which
    # bundles are starting up, and a lock. It lives on the wrapper while the wrapper is
    # installed, else it is made afresh.
    current = builtins.__import__
    found = getattr(current, "__ot2nb_state__", None)
    state: dict = (
        found
        if found is not None
        else {"original": current, "active": weakref.WeakSet(), "lock": threading.Lock()}
    )
    original_import = state["original"]
    lock = state["lock"]
    real_open = builtins.open
    bundle_import.__ot2nb_state__ = state  # type: ignore[attr-defined]

    bundle = Bundle(files)
    namespace["__ot2nb_bundle__"] = bundle
    namespace["__builtins__"] = bundle.builtins
    namespace["open"] = bundle.open

    with lock:
        state["active"].add(bundle)
        if getattr(builtins.__import__, "__ot2nb_state__", None) is not state:
            builtins.__import__ = bundle_import

    def end():
        with lock:
            state["active"].discard(bundle)
            wrapper = builtins.__import__
            if not state["active"] and getattr(wrapper, "__ot2nb_state__", None) is state:
                builtins.__import__ = state["original"]

    namespace["__ot2nb_end__"] = end
