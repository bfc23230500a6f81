"""A fixed-size summary of a large numeric reference column, and the drift scores computed from it with a bound.

Above 1000 reference values Evidently scores a numerical column by a distance (normed Wasserstein, or the
Jensen-Shannon distance / PSI of a Sturges histogram on request), which needs the reference's distribution,
not every value. The summary keeps `MAX_SEGMENTS` segments of the sorted values:

- knots: reference values with their exact number of occurrences (ties stay exact), always including the
  minimum and the maximum;
- per segment between two knots: how many values lie strictly inside, their mean (as a float32 fraction of
  the segment, which the error bound accounts for) and their mean absolute deviation from it (in 255ths of
  the segment's width, rounded up: the segment's share of the error bound);
- the count below each inner edge of Sturges histograms of the reference's own range, for 1..64 bins.

Knots are placed where they matter for the Wasserstein distance: the error of a segment is at most its width
times its share of the values, so knots are spaced at equal steps of the cumulative `sqrt(gap * share)`
(equal error per segment for a locally smooth density), and the extreme values of long tails become knots of
their own. About 92 kB per column, the same at any row count.

Scores come with a proven bound on their distance to the score of the full reference:

- Wasserstein: the summary stands for the reference with each segment's values moved to their mean. That
  keeps the integral of the CDF over every segment, so a segment adds error only where the current CDF comes
  between the reference's bounds in it; the bound sums those segments' deviations. The distance to the
  current sample itself is computed exactly, without sorting the current sample (`ecdf`'s binning idea).
- Sturges histograms: when the current range lies inside the reference's, the edges are the reference's own
  and the summary stores the exact count below each edge for 1..64 bins (exact shares, exact scores).
  Otherwise each edge's count is known to within the segment it falls in; the score is bounded by convexity
  (see `chain_range`). PSI's bound is often wider than 1e-3 there: the engine then refuses to report it.

What a summary cannot answer (the KS test, chi-square, z, value frequencies of a column the current data
types as categorical) raises `SummaryLimit`, which the engine reports with the column named.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from mlops_provider.drift.ecdf import CORE_QUANTILES, SUBSAMPLE

MAX_SEGMENTS = 4000
# A numeric column with at most this many distinct values is kept as exact value counts, whatever its size.
EXACT_VALUES_MAX = 2048
# Up to this many values, the sorted values take no more room than a summary (about 92 kB): they are kept.
SUMMARY_MIN_VALUES = 12_000
# Sturges histograms of the reference's own range, stored exactly for these bin counts (log2(rows) + 1 <= 64).
MAX_STORED_BINS = 64
# float32 keeps a segment's mean to within this fraction of the segment's width (rounding included).
FRACTION_ERROR = 2.0**-22
RATIO_STEPS = 255
# The cells that order the current sample without sorting it, as in `ecdf`.
VALUES_PER_CELL = 16
MAX_CELLS = 1 << 20
# Cells where the CDFs cross may add this much (in units of the normed score) to the bound instead of being
# merged value by value; Evidently's floor for the Wasserstein normalisation.
CELL_BUDGET = 1e-4
WASSERSTEIN_STD_FLOOR = 0.001


class SummaryLimit(ValueError):  # noqa: N818 - a refusal, not an error of the data
    """A test needs more of the reference than its summary keeps (the message says which and why)."""


@dataclass(frozen=True)
class NumericSummary:
    """A numeric reference column of more than 1000 values and more than `EXACT_VALUES_MAX` distinct ones."""

    knots: np.ndarray = field(repr=False)  # float64, ascending, first = minimum, last = maximum
    knot_counts: np.ndarray = field(repr=False)  # occurrences of each knot value
    inside_counts: np.ndarray = field(repr=False)  # values strictly between knot i and knot i + 1
    inside_fractions: np.ndarray = field(repr=False)  # their mean, as a fraction of the segment (float32)
    error_ratios: np.ndarray = field(repr=False)  # the segment's error over width x inner share, in 255ths, rounded up
    bin_counts: np.ndarray = field(repr=False)  # values below each inner Sturges edge of the own range, 1..64 bins
    dtype: np.dtype
    std: float
    n_unique: int

    @property
    def n(self) -> int:
        return int(self.knot_counts.sum() + self.inside_counts.sum())

    @property
    def minimum(self) -> float:
        return float(self.knots[0])

    @property
    def maximum(self) -> float:
        return float(self.knots[-1])

    def unique_up_to(self, limit: int) -> np.ndarray | None:
        """Like `NumericSample.unique_up_to`: a summary always has more distinct values than the test choice asks."""
        return None

    @cached_property
    def through(self) -> np.ndarray:
        """Values at or below each knot."""
        return np.cumsum(self.knot_counts) + np.concatenate(([0], np.cumsum(self.inside_counts)))

    @cached_property
    def means(self) -> np.ndarray:
        """The mean of each segment's inner values (the segment's middle when it has none)."""
        return self.knots[:-1] + self.inside_fractions.astype(np.float64) * np.diff(self.knots)

    def atoms(self) -> tuple[np.ndarray, np.ndarray]:
        """The summary as weighted points, ascending: knots with their counts, segment means with theirs."""
        points = np.empty(2 * self.knots.size - 1)
        weights = np.empty(points.size, dtype=np.int64)
        points[0::2], weights[0::2] = self.knots, self.knot_counts
        points[1::2], weights[1::2] = np.clip(self.means, self.knots[:-1], self.knots[1:]), self.inside_counts
        keep = weights > 0
        return points[keep], weights[keep]


def summarize(ordered: np.ndarray, dtype: np.dtype, std: float, max_segments: int = MAX_SEGMENTS) -> NumericSummary:
    """The summary of a column's finite values, sorted ascending (more than `max_segments` + 1 distinct)."""
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    distinct = ordered[starts]
    counts = np.diff(np.append(starts, ordered.size))
    chosen = _knot_indices(distinct, counts, ordered.size, max_segments)
    knot_counts = counts[chosen]
    through_distinct = np.cumsum(counts)
    through = through_distinct[chosen]
    inside_counts = through[1:] - knot_counts[1:] - through[:-1]
    # Sums of the values inside each segment, relative to its left knot so nothing large cancels.
    relative = ordered - np.repeat(distinct[chosen], np.diff(np.append(through - knot_counts, ordered.size)))
    # Each group runs from a knot's first occurrence to the next knot's: the knot (relative value 0), then the
    # segment's inner values; the last group holds only the last knot.
    groups = (through - knot_counts)[:-1]
    sums = np.add.reduceat(relative, groups)
    widths = np.diff(distinct[chosen])
    means = sums / np.maximum(inside_counts, 1)
    # The segment's share of the error: the integral of |CDF - CDF with the inner values at their mean| is
    # sum |x - mean| / n (the knot at the group's start, at relative 0, is taken out again).
    deviations = np.add.reduceat(np.abs(relative - np.repeat(means, np.diff(np.append(groups, ordered.size)))), groups)
    deviations = np.maximum(deviations - knot_counts[:-1] * means, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fractions = np.where(inside_counts > 0, means / widths, 0.5)
        ratios = np.where(inside_counts > 0, deviations / (widths * inside_counts), 0.0)
    return NumericSummary(
        knots=distinct[chosen].astype(np.float64),
        knot_counts=knot_counts.astype(np.int64),
        inside_counts=inside_counts.astype(np.int64),
        inside_fractions=np.clip(fractions, 0.0, 1.0).astype(np.float32),
        error_ratios=np.ceil(np.clip(ratios, 0.0, 1.0) * RATIO_STEPS * (1 + 1e-9)).astype(np.uint8),
        bin_counts=_own_bin_counts(ordered, dtype),
        dtype=np.dtype(dtype),
        std=float(std),
        n_unique=int(distinct.size),
    )


def _knot_indices(distinct: np.ndarray, counts: np.ndarray, n: int, segments: int) -> np.ndarray:
    """Indices of exactly `segments` + 1 distinct values: equal steps of the cumulative sqrt(gap * share)."""
    gaps = np.diff(distinct)
    shares = (counts[:-1] + counts[1:]) / (2.0 * n)
    scaled = gaps / (gaps.sum() or 1.0)  # scale-free: only relative widths matter
    weight = np.sqrt(scaled * shares)
    position = np.concatenate(([0.0], np.cumsum(weight)))
    steps = np.linspace(0.0, position[-1], segments + 1)
    inner_knots = np.searchsorted(position, steps[1:-1]).clip(1, distinct.size - 2)
    chosen = np.unique(np.concatenate(([0], inner_knots, [distinct.size - 1])))
    while chosen.size < segments + 1:  # long tails take several steps per value: split the fullest segments
        inner = np.diff(chosen) - 1
        missing = segments + 1 - chosen.size
        splittable = np.flatnonzero(inner > 0)
        fullest = splittable[np.argsort(-inner[splittable], kind="stable")[:missing]]
        chosen = np.unique(np.concatenate((chosen, chosen[fullest] + (inner[fullest] + 1) // 2)))
    return chosen


def _own_bin_counts(ordered: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Values below each inner edge of `own_edges(b)` for b = 1..MAX_STORED_BINS, concatenated."""
    parts = [ordered.searchsorted(own_edges(ordered[0], ordered[-1], dtype, bins)[1:-1].astype(np.float64), "left")
             for bins in range(1, MAX_STORED_BINS + 1)]
    return np.concatenate(parts).astype(np.int64)


def own_edges(minimum: float, maximum: float, dtype: np.dtype, bins: int) -> np.ndarray:
    """`np.histogram_bin_edges` of the reference's own range in its own dtype, as `sturges_edges` computes them."""
    return np.histogram_bin_edges(np.array([minimum, maximum]).astype(dtype), bins=bins)


def stored_bin_counts(summary: NumericSummary, bins: int) -> np.ndarray:
    start = (bins - 1) * (bins - 2) // 2
    return summary.bin_counts[start : start + bins - 1]


# --- scores ------------------------------------------------------------------------------------------


def wasserstein_distance(summary: NumericSummary, current: np.ndarray) -> tuple[float, float]:
    """`scipy.stats.wasserstein_distance(reference, current)` from the summary: (distance, bound on its error).

    The line is cut into cells by arithmetic (no sort); in each cell the integral of G - F (the CDFs of the
    summary's points and of the current sample) follows by parts from counts and sums of offsets, and is the
    integral of |G - F| wherever G - F keeps one sign; the other cells are bounded or merged value by value."""
    points, weights = summary.atoms()
    n_r, n_c = summary.n, current.size
    grid = _grid(points, current)
    n_cells = grid[2] + 2
    r_position, r_cells = _positions(points, grid)
    c_position, c_cells = _positions(current, grid)
    # Cell k spans [start[k], start[k + 1]); the tail cells start at the smallest value and end at the largest.
    start = np.arange(n_cells + 1, dtype=np.float64)
    start[0] = min(r_position[0], float(c_position.min()))
    start[-1] = max(r_position[-1], float(c_position.max()), n_cells - 1.0)
    length = np.diff(start)  # in cell widths
    r_counts = np.bincount(r_cells, weights=weights, minlength=n_cells).astype(np.int64)
    c_counts = np.bincount(c_cells, minlength=n_cells)
    r_through, c_through = np.cumsum(r_counts), np.cumsum(c_counts)
    r_before, c_before = r_through - r_counts, c_through - c_counts
    # Sum over the cell's points of (cell end - x), from the summed positions.
    r_rest = r_counts * start[1:] - np.bincount(r_cells, weights=weights * r_position, minlength=n_cells)
    c_rest = c_counts * start[1:] - np.bincount(c_cells, weights=c_position, minlength=n_cells)
    integral = (r_before / n_r - c_before / n_c) * length + (r_rest / n_r - c_rest / n_c)
    one_sign = (r_before * n_c >= c_through * n_r) | (r_through * n_c <= c_before * n_r)
    total = float(np.sum(np.abs(integral[one_sign])))
    crossing = np.flatnonzero(~one_sign)
    # Where G - F changes sign inside a cell, |G - F| integrates to between |integral| and the cell's length
    # times the largest |G - F| in it. Narrow cells take the middle (their half-widths join the bound), unless
    # together they would cost more than CELL_BUDGET of the score: then their values are merged exactly.
    # The two tail cells are unbounded: always merged.
    core = crossing[(crossing > 0) & (crossing < n_cells - 1)]
    largest = np.maximum(np.abs(r_through / n_r - c_before / n_c), np.abs(r_before / n_r - c_through / n_c))
    low, high = np.abs(integral[core]), (length * largest)[core]
    budget = CELL_BUDGET * max(summary.std, WASSERSTEIN_STD_FLOOR) * grid[1]
    cell_error = float(np.sum(high - low)) / 2
    if cell_error <= budget:
        total += float(np.sum(high + low)) / 2
        crossing = np.setdiff1d(crossing, core, assume_unique=True)
    else:
        cell_error = 0.0
    if crossing.size:
        total += _crossing_cells((r_position, r_cells, weights), (c_position, c_cells), crossing, start,
                                 (r_before, c_before), n_r, n_c)
    return total / grid[1], _compression_bound(summary, grid, c_before, c_through) + cell_error / grid[1]


def _grid(points: np.ndarray, current: np.ndarray) -> tuple[float, float, int]:
    """(origin, scale, cells): cells 1..cells cut the core range of both sides evenly, 0 and cells + 1 the tails."""
    n_cells = int(min(max((points.size + current.size) // VALUES_PER_CELL, 16), MAX_CELLS))
    step = max(1, current.size // SUBSAMPLE)
    low, high = np.quantile(np.concatenate((points, current[::step])), CORE_QUANTILES)
    if not high > low:
        low, high = min(points[0], current.min()), max(points[-1], current.max())
    scale = n_cells / (high - low) if high > low else math.inf
    if not np.isfinite(scale):
        return float(low) - 1.0, 1.0, n_cells
    return float(low - 1 / scale), float(scale), n_cells


def _positions(values: np.ndarray, grid: tuple[float, float, int]) -> tuple[np.ndarray, np.ndarray]:
    """Where values lie in cell widths from the origin, and their cells (monotone: cells never reorder values)."""
    origin, scale, n_cells = grid
    position = values - origin
    position *= scale
    return position, np.clip(position, 0, n_cells + 1).astype(np.intp)


def _crossing_cells(reference: tuple[np.ndarray, np.ndarray, np.ndarray], current: tuple[np.ndarray, np.ndarray],
                    crossing: np.ndarray, start: np.ndarray, before: tuple[np.ndarray, np.ndarray],
                    n_r: int, n_c: int) -> float:
    """The integral of |G - F| (in cell widths) over the cells where G - F may change sign: each cell's start
    and points merged, G - F constant from one to the next, the last one reaching the cell's end."""
    r_position, r_cells, weights = reference
    c_position, c_cells = current
    chosen = np.zeros(start.size - 1, dtype=bool)
    chosen[crossing] = True
    pick_r, pick_c = chosen[r_cells], chosen[c_cells]
    c_picked = c_position[pick_c]
    merged = np.concatenate((start[crossing], r_position[pick_r], c_picked))
    cells = np.concatenate((crossing, r_cells[pick_r], c_cells[pick_c]))
    steps_r = np.concatenate((np.zeros(crossing.size, dtype=np.int64), weights[pick_r],
                              np.zeros(c_picked.size, dtype=np.int64)))
    steps_c = np.zeros(merged.size, dtype=np.int64)
    steps_c[crossing.size + int(pick_r.sum()):] = 1
    # Cells are monotone in position and each start lies at or below its cell's points: one sort orders all.
    order = np.argsort(merged)
    merged, cells, steps_r, steps_c = merged[order], cells[order], steps_r[order], steps_c[order]
    first_in_cell = np.empty(merged.size, dtype=bool)
    first_in_cell[0] = True
    np.not_equal(cells[1:], cells[:-1], out=first_in_cell[1:])
    difference = (before[0][cells] + _running_within(steps_r, first_in_cell)) / n_r - (
        before[1][cells] + _running_within(steps_c, first_in_cell)) / n_c
    successors = np.empty_like(merged)
    successors[:-1] = merged[1:]
    last = np.empty(merged.size, dtype=bool)
    last[:-1] = first_in_cell[1:]
    last[-1] = True
    successors[last] = start[cells[last] + 1]
    return float(np.vecdot(np.abs(difference), np.maximum(successors - merged, 0.0)))


def _running_within(steps: np.ndarray, first_in_cell: np.ndarray) -> np.ndarray:
    """Cumulative sum of `steps` restarting at each new cell."""
    running = np.cumsum(steps)
    starts = np.flatnonzero(first_in_cell)
    before = np.concatenate(([0], running[starts[1:] - 1]))
    return running - np.repeat(before, np.diff(np.append(starts, steps.size)))


def _compression_bound(summary: NumericSummary, grid: tuple[float, float, int], c_before: np.ndarray,
                       c_through: np.ndarray) -> float:
    """How far the distance to the summary can be from the distance to the full reference.

    Segment i adds at most the integral of |reference CDF - summary CDF| over it (sum |x - mean| / n, stored as
    a fraction of width x inner share, rounded up), and only where the current CDF enters the reference's band
    (through knot i, through knot i + inner values) somewhere in the segment; the current CDF at a knot is
    known to within the cell the knot falls in. The float32 means add width x share x FRACTION_ERROR.
    """
    n_r, n_c = summary.n, int(c_through[-1])
    knot_cells = _positions(summary.knots, grid)[1]
    lowest = c_before[knot_cells[:-1]]  # current values below the segment's left knot, at least
    highest = c_through[knot_cells[1:]]  # and at most this many up to its right knot
    band_low = summary.through[:-1]
    band_high = band_low + summary.inside_counts
    touched = (highest * n_r > band_low * n_c) & (lowest * n_r < band_high * n_c) & (summary.inside_counts > 0)
    area = np.diff(summary.knots) * summary.inside_counts / n_r
    error = area * (summary.error_ratios / RATIO_STEPS)
    return float(np.sum(error[touched]) + np.sum(area) * FRACTION_ERROR)


def below_edges(summary: NumericSummary, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference values below each edge: (estimate, lowest possible, highest possible).

    Exact at knots and outside the range; inside a segment the estimate interpolates linearly."""
    edges = edges.astype(np.float64)
    right = np.searchsorted(summary.knots, edges, "left")  # knots[right - 1] < edge <= knots[right]
    inside = (right > 0) & (right < summary.knots.size)
    segment = np.clip(right - 1, 0, summary.inside_counts.size - 1)
    at_knot = inside & (summary.knots[np.minimum(right, summary.knots.size - 1)] == edges)
    low = np.where(right == 0, 0, summary.through[np.maximum(right - 1, 0)])
    low = np.where(right >= summary.knots.size, summary.n, low)
    spread = np.where(inside, summary.inside_counts[segment], 0)
    low = np.where(at_knot, low + spread, low)
    spread = np.where(at_knot, 0, spread)
    left_knot = summary.knots[segment]
    width = summary.knots[segment + 1] - left_knot
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(spread > 0, np.clip((edges - left_knot) / width, 0.0, 1.0), 0.0)
    return low + spread * share, low.astype(np.float64), (low + spread).astype(np.float64)


def histogram_shares(summary: NumericSummary, edges: np.ndarray, exact: bool) -> tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]:
    """Shares of the reference in the histogram `edges` (last bin closed): (estimate, low, high) per bin."""
    n = summary.n
    if exact:
        below = np.concatenate(([0], stored_bin_counts(summary, edges.size - 1), [n])).astype(np.float64)
        shares = np.diff(below) / n
        return shares, shares, shares
    estimate, low, high = edge_counts(summary, edges)
    return (
        np.diff(estimate) / n,
        np.clip(low[1:] - high[:-1], 0, None) / n,
        np.clip(high[1:] - low[:-1], 0, None) / n,
    )


def edge_counts(summary: NumericSummary, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference values below each edge but the last, which closes the histogram: (estimate, low, high)."""
    return tuple(np.append(side, summary.n) for side in below_edges(summary, edges[:-1]))  # type: ignore[return-value]


def chain_range(term: Callable[[np.ndarray, np.ndarray], np.ndarray],
                slope: Callable[[np.ndarray, np.ndarray], np.ndarray],
                counts: tuple[np.ndarray, np.ndarray, np.ndarray], q: np.ndarray, n: int) -> tuple[float, float]:
    """Bounds of sum(term(p_i, q_i)), p_i the share between edges i and i + 1, over the edges' possible counts.

    The sum is convex in the counts below the inner edges (term convex in p, `slope` its derivative): below,
    by its tangent at the estimate; above, by the mean value theorem with each edge's derivative bounded over
    the box. Moving an edge's count moves values between two neighbouring bins, so only the difference of
    their slopes counts, which keeps these bounds far tighter than bin-by-bin ones."""
    estimate, low, high = counts
    p = np.diff(estimate) / n
    value = float(np.sum(term(p, q)))
    inner = slice(1, -1)
    moved = np.maximum(high[inner] - estimate[inner], estimate[inner] - low[inner])
    with np.errstate(invalid="ignore", divide="ignore"):
        slopes = slope(p, q)
        gradient = (slopes[:-1] - slopes[1:]) / n
        tangent = np.minimum(gradient * (low[inner] - estimate[inner]), gradient * (high[inner] - estimate[inner]))
        p_low = np.clip(low[1:] - high[:-1], 0, None) / n
        p_high = np.clip(high[1:] - low[:-1], 0, None) / n
        steepest = np.maximum(np.abs(slope(p_low[:-1], q[:-1]) - slope(p_high[1:], q[1:])),
                              np.abs(slope(p_high[:-1], q[:-1]) - slope(p_low[1:], q[1:]))) / n
        # An infinite or undefined slope (an empty bin next to a full one) leaves that side unbounded.
        rise = np.where(moved > 0, np.nan_to_num(steepest * moved, nan=np.inf), 0.0)
        fall = np.where(moved > 0, np.nan_to_num(tangent, nan=-np.inf), 0.0)
    return max(value + float(np.sum(fall)), 0.0), value + float(np.sum(rise))


def convex_range(term: Callable[[np.ndarray, np.ndarray], np.ndarray], low: np.ndarray, high: np.ndarray,
                 q: np.ndarray) -> tuple[float, float]:
    """Bounds of sum(term(p_i, q_i)) over low <= p <= high, for a term convex in p with its minimum at p = q."""
    smallest = term(np.clip(q, low, high), q)
    largest = np.maximum(term(low, q), term(high, q))
    return float(np.sum(smallest)), float(np.sum(largest))
