"""A small long-running program for the demo: it prices an order every half second."""

import time

TAX = 0.2


def price(quantity, unit):
    return quantity * unit


def total(quantity, unit):
    subtotal = price(quantity, unit)
    return round(subtotal * (1 + TAX), 2)


def main():
    order = 0
    while True:
        order += 1
        print(f"order #{order}: 3 x 10.00 -> {total(3, 10.0):.2f}", flush=True)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
