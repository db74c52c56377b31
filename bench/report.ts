// One line of the suite's table: today's figure, the baseline measured in the same run, their ratio,
// the goal of issue 11 and whether it is met.

export interface Goal {
  /** What is compared with `value`: the ratio, or today's figure itself when there is no baseline. */
  of: 'ratio' | 'today';
  op: '<=' | '>=' | '<';
  value: number;
}

export interface Row {
  id: string;
  measure: string;
  unit: string;
  today: number;
  /** The baseline's figure in the same run (null: the goal is absolute). */
  baseline: number | null;
  baselineWhat: string;
  ratio: number | null;
  goal: Goal | null;
  met: boolean | null;
  /** Further figures (counts, percentiles) for the JSON file. */
  detail?: Record<string, unknown>;
}

export function row(r: Omit<Row, 'ratio' | 'met'> & { extraCondition?: boolean }): Row {
  const { extraCondition, ...rest } = r;
  const ratio = r.baseline === null ? null : r.today / r.baseline;
  let met: boolean | null = null;
  if (r.goal) {
    const x = r.goal.of === 'ratio' ? ratio : r.today;
    met = x === null ? null : r.goal.op === '<=' ? x <= r.goal.value : r.goal.op === '>=' ? x >= r.goal.value : x < r.goal.value;
    if (met !== null && extraCondition === false) met = false;
  }
  return { ...rest, ratio, met };
}

const num = (x: number | null, unit = ''): string => {
  if (x === null || Number.isNaN(x)) return '—';
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  return `${x.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
};

const goalText = (g: Goal | null): string => (g ? `${g.of === 'ratio' ? 'ratio' : 'today'} ${g.op.replace('<=', '≤').replace('>=', '≥')} ${g.value}` : '—');

/** The table, as printed (and pasted into docs/performance.md). */
export function table(rows: readonly Row[]): string {
  const lines = [
    '| measure | today | baseline (same run) | ratio | goal | met |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) =>
      [
        r.measure,
        num(r.today, r.unit),
        r.baseline === null ? r.baselineWhat || '—' : `${num(r.baseline, r.unit)} (${r.baselineWhat})`,
        r.ratio === null ? '—' : `${r.ratio.toFixed(2)}`,
        goalText(r.goal),
        r.met === null ? '—' : r.met ? 'yes' : 'no',
      ].join(' | '),
    ).map((l) => `| ${l} |`),
  ];
  return lines.join('\n');
}
