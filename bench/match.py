"""How fast the matcher is: stories per second for 10, 100 and 1,000 watchlists.

Generates realistic watchlists (company aliases with case-sensitive tickers, phrases,
AND / OR / NOT, NEAR/n, prefix wildcards, field scoping, exclusions) and realistic stories
(a title and a 50-word summary that mention a company now and then), then matches the
same stories against each set on one core and prints the figures side by side.

    .venv/bin/python bench/match.py [--stories 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import time
import timeit

from worker.models import Document, Watchlist
from worker.watchlists import Matcher


def _split(text: str) -> list[str]:
    return text.split()


COMMON = _split(
    "the of and to in a is that for on with as was by at from it an be are this has have "
    "after over new said year years market markets prices price report reports government "
    "officials said week month company companies plan plans deal deals shares investors "
    "billion million percent trade talks agreement minister president bank rate rates "
    "growth economy economic exports imports supply chain workers plant plants factory "
    "production output demand sales profit quarter results record higher lower rise fall "
    "analysts expect forecast expected announced statement review board chief executive "
    "state states national federal policy law court ruling decision vote energy oil gas "
    "power climate data technology chips cars electric battery steel aluminum copper iron "
    "coal mining shipping port ports rail airline tourism housing jobs wages inflation"
)
TOPICS = _split(
    "tariff tariffs duties sanctions merger acquisition takeover lawsuit strike layoffs "
    "earnings dividend bankruptcy recall investigation probe antitrust subsidy subsidies "
    "export ban quota"
)
SYLLABLES = _split("ka ro mi ta ne so lu vi da pe ko ri na zu be ha to ge mo sa li fe")
KINDS = ("Steel", "Motors", "Energy", "Bank", "Holdings", "Mining", "Airlines", "Foods")


def company(rng: random.Random, number: int) -> tuple[str, str, str]:
    """A company: (full name, short name, ticker)."""
    stem = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()
    kind = KINDS[number % len(KINDS)]
    ticker = (stem[:2] + kind[0] + chr(65 + number % 26)).upper()
    return f"{stem} {kind} Corporation", f"{stem} {kind}", ticker


def make_watchlists(
    rng: random.Random, companies: list[tuple[str, str, str]], count: int
) -> list[Watchlist]:
    out = []
    for number in range(count):
        full, short, ticker = companies[number % len(companies)]
        key = f"co_{number}"
        aliases = ((key, (full, short, f"={ticker}")),)
        topic = rng.choice(TOPICS)
        other = rng.choice(TOPICS)
        shape = number % 5
        if shape == 0:
            query = f"{key} AND ({topic} OR {other}*)"
        elif shape == 1:
            query = f'{key} NEAR/8 ({topic} OR "{rng.choice(COMMON)} {rng.choice(COMMON)}")'
        elif shape == 2:
            query = f"title:{key} OR ({key} {topic} -{other})"
        elif shape == 3:
            query = f'"{short}" OR ={ticker}'
        else:
            query = f"({key} OR {companies[(number + 7) % len(companies)][2]}) AND NOT {other}"
        out.append(
            Watchlist(
                name=f"w{number}",
                query=query,
                feeds=(),
                schedule="0 8 * * *",
                timezone="UTC",
                webhooks=(),
                aliases=aliases,
                exclude="title:podcast" if number % 3 == 0 else None,
            )
        )
    return out


def make_story(rng: random.Random, companies: list[tuple[str, str, str]]) -> Document:
    def words(count: int) -> list[str]:
        return [rng.choice(COMMON) for _ in range(count)]

    title = words(8)
    summary = words(50)
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        full, short, ticker = rng.choice(companies)
        name = rng.choice((full, short, ticker))
        target = rng.choice((title, summary))
        target.insert(rng.randrange(len(target) + 1), name)
    for _ in range(rng.choice((0, 1, 2))):
        summary.insert(rng.randrange(len(summary)), rng.choice(TOPICS))
    return Document(
        title=" ".join(title).capitalize(),
        summary=" ".join(summary).capitalize().replace(" said ", ", said\u00a0") + ".",
        language="en",
    )


def measure(matcher: Matcher, stories: list[Document], repeat: int) -> tuple[float, float, int]:
    """Best stories/s over `repeat` runs, by wall clock and by CPU time, and the matches."""
    best_wall = best_cpu = float("inf")
    matches = 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        matches = sum(len(matcher.match(story)) for story in stories)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return len(stories) / best_wall, len(stories) / max(best_cpu, 1e-9), matches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(20250103)
    companies = [company(rng, number) for number in range(1500)]
    stories = [make_story(rng, companies) for _ in range(args.stories)]
    print(f"{args.stories} stories (title + 50-word summary), best of {args.repeat}, one core")
    reference = min(timeit.repeat("sum(range(10**6))", number=1, repeat=5)) * 1000
    print(f"machine reference: sum(range(10**6)) takes {reference:.1f} ms here")
    print("stories/s by wall clock, and by CPU time (what one free core would do)")
    print(f"{'watchlists':>10} {'compile ms':>11} {'wall /s':>10} {'cpu /s':>10} {'matches':>8}")
    for count in (10, 100, 1000):
        watchlists = make_watchlists(random.Random(count), companies, count)
        started = time.perf_counter()
        matcher = Matcher.compile(watchlists)
        compile_ms = (time.perf_counter() - started) * 1000
        wall, cpu, matches = measure(matcher, stories, args.repeat)
        print(f"{count:>10} {compile_ms:>11.1f} {wall:>10,.0f} {cpu:>10,.0f} {matches:>8}")


if __name__ == "__main__":
    main()
