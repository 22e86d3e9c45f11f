"""A function tool with a known answer, so tests can find its output in the response."""


def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: The city's name.
    """
    return f"Sunny and 21 C in {city}"
