/**
 * The page's charts, drawn by Chart.js (bundled from npm, registered piece by piece so only
 * what is used is shipped): the totals waterfall as floating bars, the payout histogram and
 * the Lorenz curve. Inputs are already computed exactly (stats.ts); numbers appear here only
 * as plot coordinates. Animation is off: what is drawn is final (and screenshots are stable).
 *
 * @module
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";
import type { Bin, WaterfallStep } from "./stats.ts";

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);

const COLORS = { total: "#3b6ea8", out: "#c9822b", residual: "#8a8f98", line: "#2f7d4f" };

const charts = new Map<HTMLCanvasElement, Chart>();

function draw(canvas: HTMLCanvasElement, config: ChartConfiguration): void {
  charts.get(canvas)?.destroy();
  config.options = {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    ...config.options,
  };
  charts.set(canvas, new Chart(canvas, config));
}

/** Bigint minor units as a plot coordinate (precision beyond 2^53 is not needed to draw). */
function plotted(minor: bigint): number {
  return Number(minor);
}

/** Floating bars: each step from `fromMinor` to `toMinor`. */
export function drawWaterfall(canvas: HTMLCanvasElement, steps: readonly WaterfallStep[]): void {
  draw(canvas, {
    type: "bar",
    data: {
      labels: steps.map((s) => s.label),
      datasets: [{
        label: "minor units",
        data: steps.map((s) => [plotted(s.fromMinor), plotted(s.toMinor)]),
        backgroundColor: steps.map((s) => COLORS[s.kind]),
        minBarLength: 2,
      }],
    },
    options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
  });
}

/** Recipients per amount bin. */
export function drawHistogram(canvas: HTMLCanvasElement, bins: readonly Bin[]): void {
  draw(canvas, {
    type: "bar",
    data: {
      labels: bins.map((b) => `${b.lowMinor}–${b.highMinor}`),
      datasets: [{
        label: "recipients",
        data: bins.map((b) => b.count),
        backgroundColor: COLORS.total,
      }],
    },
    options: {
      plugins: { legend: { display: false } },
      scales: {
        x: { title: { display: true, text: "payout (minor units)" } },
        y: { title: { display: true, text: "recipients" } },
      },
    },
  });
}

/** The Lorenz curve against the line of equality. */
export function drawLorenz(canvas: HTMLCanvasElement, points: readonly { x: number; y: number }[]) {
  draw(canvas, {
    type: "line",
    data: {
      datasets: [
        {
          label: "Lorenz curve",
          data: points.map((p) => ({ x: p.x, y: p.y })),
          borderColor: COLORS.line,
          backgroundColor: "rgba(47,125,79,0.15)",
          fill: "origin",
          pointRadius: 0,
        },
        {
          label: "equality",
          data: [{ x: 0, y: 0 }, { x: 1, y: 1 }],
          borderColor: COLORS.residual,
          borderDash: [4, 4],
          pointRadius: 0,
        },
      ],
    },
    options: {
      scales: {
        x: {
          type: "linear",
          min: 0,
          max: 1,
          title: { display: true, text: "share of recipients" },
        },
        y: { min: 0, max: 1, title: { display: true, text: "share of payouts" } },
      },
    },
  });
}
