"""`splice.replace`: every reference that exists to a function runs the replacement's code, and
`revert()` puts the function back exactly. In this process, on real modules imported from files,
with real threads calling while functions are replaced."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
import textwrap
import threading

import pytest

import splice

PRICING = """\
callbacks = []


def price(item, quantity=1):
    return 10 * quantity


def register():
    callbacks.append(price)


def closure():
    held = price
    return lambda: held("apple")


class Shop:
    rate = 1

    def total(self, n):
        return n * self.rate

    @classmethod
    def kind(cls):
        return "shop"

    @staticmethod
    def tax(amount):
        return amount * 0.2

    async def fetch(self):
        return "old"

    def stream(self):
        yield "old"
"""

CONSUMER = """\
from pricing import price as imported_price


def checkout():
    return imported_price("apple")
"""


@pytest.fixture
def pricing(tmp_path, monkeypatch):
    (tmp_path / "pricing.py").write_text(PRICING)
    (tmp_path / "consumer.py").write_text(CONSUMER)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("pricing")
    yield module
    for name in ("pricing", "consumer"):
        sys.modules.pop(name, None)


def test_every_kind_of_reference_runs_the_replacement(pricing):
    consumer = importlib.import_module("consumer")
    pricing.register()
    held = pricing.closure()
    shop = pricing.Shop()
    bound = shop.total
    scale = 3

    def cheaper(item, quantity=2):
        return scale * quantity  # a closure of the test: run through a trampoline

    with splice.replaced(pricing.price, cheaper) as handle:
        assert handle.active
        assert pricing.price("x") == 6
        assert consumer.checkout() == 6
        assert pricing.callbacks[0]("x") == 6
        assert held() == 6
        assert pricing.price("x", 5) == 15
        assert str(inspect.signature(pricing.price)) == "(item, quantity=2)"
        assert bound(4) == 4  # another function, untouched
    assert not handle.active
    for call in (lambda: pricing.price("x"), consumer.checkout, lambda: pricing.callbacks[0]("x"), held):
        assert call() == 10


def test_a_replacement_of_the_same_module_without_closures_runs_in_place(pricing):
    exec(
        textwrap.dedent(
            """
            def discounted(item, quantity=1):
                return 5 * quantity
            """
        ),
        vars(pricing),
    )
    original = pricing.price.__code__

    handle = splice.replace(pricing.price, pricing.discounted)

    assert pricing.price.__code__ is pricing.discounted.__code__
    assert pricing.price("x") == 5
    handle.revert()
    assert pricing.price.__code__ is original
    handle.revert()  # a second revert changes nothing
    assert pricing.price("x") == 10


def test_methods_classmethods_and_staticmethods(pricing):
    shop = pricing.Shop()
    bound = shop.total
    kind = pricing.Shop.kind
    tax = pricing.Shop.tax

    handles = [
        splice.replace(shop.total, lambda self, n: -n),
        splice.replace(pricing.Shop.__dict__["kind"], lambda cls: cls.__name__.lower() + "!"),
        splice.replace(pricing.Shop.tax, lambda amount: 0),
    ]
    try:
        assert bound(3) == -3
        assert pricing.Shop().total(3) == -3
        assert kind() == "shop!"
        assert pricing.Shop.kind() == "shop!"
        assert tax(100) == 0
    finally:
        for handle in reversed(handles):
            handle.revert()
    assert bound(3) == 3 and kind() == "shop" and tax(100) == 20.0


def test_coroutines_and_generators_stay_what_they_are(pricing):
    shop = pricing.Shop()
    fetch, stream = shop.fetch, shop.stream
    suffix = "!"

    async def new_fetch(self):
        await asyncio.sleep(0)
        return "new" + suffix

    def new_stream(self):
        yield "new" + suffix
        yield "more"

    with splice.replaced(fetch, new_fetch), splice.replaced(stream, new_stream):
        assert inspect.iscoroutinefunction(pricing.Shop.fetch)
        assert inspect.isgeneratorfunction(pricing.Shop.stream)
        assert asyncio.run(fetch()) == "new!"
        assert list(stream()) == ["new!", "more"]
    assert asyncio.run(fetch()) == "old"
    assert list(stream()) == ["old"]


def test_revert_restores_the_target_exactly(pricing):
    function = pricing.price
    before = (function.__code__, function.__defaults__, function.__kwdefaults__)

    def keyword_only(item, *, quantity=7):
        return quantity

    handle = splice.replace(function, keyword_only)
    assert function("x") == 7 and function.__kwdefaults__ == {"quantity": 7}
    handle.revert()

    assert (function.__code__, function.__defaults__, function.__kwdefaults__) == before
    assert function.__code__ is before[0]


def test_the_context_manager_restores_when_the_block_raises(pricing):
    with pytest.raises(RuntimeError, match="boom"):
        with splice.replaced(pricing.price, lambda item, quantity=1: 0):
            assert pricing.price("x") == 0
            raise RuntimeError("boom")
    assert pricing.price("x") == 10


def test_threads_calling_while_replaced_see_old_or_new_never_half(pricing):
    function = pricing.price
    stop = threading.Event()
    seen = set()
    errors = []

    def call():
        while not stop.is_set():
            try:
                seen.add(function("x", 2))
            except Exception as err:  # noqa: BLE001 - any failure is the finding
                errors.append(err)

    def new(item, quantity=3):
        return -quantity

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(300):
            splice.replace(function, new).revert()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert seen <= {20, -2}
    assert function("x", 2) == 20


def test_what_cannot_be_replaced_is_refused_with_why(pricing):
    with pytest.raises(TypeError, match="must be a Python function"):
        splice.replace(len, pricing.price)
    with pytest.raises(ValueError, match="cannot replace itself"):
        splice.replace(pricing.price, pricing.price)
    captured = 1

    async def agen(item, quantity=1):
        yield captured

    with pytest.raises(ValueError, match="async generator"):
        splice.replace(pricing.price, agen)
    assert pricing.price("x") == 10
