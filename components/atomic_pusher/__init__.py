from components.atomic_pusher.component import AtomicPusher  # noqa: F401
