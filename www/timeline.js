// The attempt timeline: each attempt of the latest jobs is a bar on one shared time axis; its
// colour says how it ended (succeeded, failed, timed out, cancelled, still running), and the
// gaps between bars are the backoff before each retry, drawn as dashed boxes. Before the first
// bar, a hatched box is the time the job waited in the queue (from its `queued` event to its
// first `attemptStarted`, or to its cancellation if it never ran): the wait that priorities,
// per-host limits, pauses and rate limits make visible. A hedged attempt runs beside the one
// before it: its bar is drawn in the lower half of the row.

const MAX_JOBS = 24;
// job id -> { queued, started, meta, attempts: [{ n, start, end, outcome, hedge }], backoffs: [{ start, end }] }
// `started`: when the first attempt started (null until then); `meta`: { host, priority } or null.
const jobs = new Map();

const now = () => performance.now();

export function resetTimeline() {
  jobs.clear();
}

/**
 * Follows a pool event (`onEvent`'s plain objects); `meta`, for a `queued` event: what the row
 * is labelled with ({ host, priority }), or null; for a `succeeded` event: the number of the
 * attempt whose value won (the others still running were dropped), or null.
 */
export function timelineEvent(e, meta = null) {
  const t = now();
  if (e.type === 'queued') {
    jobs.set(e.job, { queued: t, started: null, ended: null, meta, attempts: [], backoffs: [] });
    if (jobs.size > MAX_JOBS) jobs.delete(jobs.keys().next().value);
    return;
  }
  const j = jobs.get(e.job);
  if (!j) return;
  const close = (a, outcome) => { if (a && a.end === null) { a.end = t; a.outcome = outcome; } };
  const byNumber = (n) => j.attempts.find((a) => a.n === n);
  // At the job's end, attempts still running were dropped (a hedge that lost, or the deadline).
  const closeRest = (outcome) => { for (const a of j.attempts) close(a, outcome); };
  if (e.type === 'succeeded' || e.type === 'failed' || e.type === 'cancelled') j.ended = t;
  switch (e.type) {
    case 'attemptStarted':
      j.started ??= t;
      j.attempts.push({ n: e.attempt, start: t, end: null, outcome: 'running', hedge: false });
      break;
    case 'hedgeStarted': { const a = byNumber(e.attempt); if (a) a.hedge = true; break; }
    case 'attemptFailed': close(byNumber(e.attempt), 'failed'); break;
    case 'attemptTimedOut': close(byNumber(e.attempt), 'timeout'); break;
    case 'retryScheduled': j.backoffs.push({ start: t, end: t + e.delay }); break;
    case 'succeeded': {
      const running = j.attempts.filter((a) => a.end === null);
      close(byNumber(meta) ?? (running.length === 1 ? running[0] : undefined), 'ok');
      closeRest('cancel');
      break;
    }
    case 'deadlineExceeded': closeRest('timeout'); break; // its `failed` follows
    case 'failed': closeRest('cancel'); break;
    case 'cancelled': closeRest('cancel'); break;
  }
}

/** Draws the timeline into `root` (a container element). */
export function drawTimeline(root) {
  const list = [...jobs.entries()].reverse(); // newest first, like the jobs list
  if (list.length === 0) {
    root.replaceChildren(note('Submit jobs to see their attempts here.'));
    return;
  }
  const t = now();
  const start = Math.min(...list.map(([, j]) => j.queued));
  const end = Math.max(start + 1, ...list.flatMap(([, j]) => [
    waitEnd(j, t),
    ...j.attempts.map((a) => a.end ?? t),
    ...j.backoffs.map((b) => Math.min(b.end, t)),
  ]));
  const span = end - start;
  const pct = (x) => `${((x - start) / span * 100).toFixed(2)}%`;
  const width = (a, b) => `${Math.max(0.4, (b - a) / span * 100).toFixed(2)}%`;

  const rows = list.map(([id, j]) => {
    const row = div('tl-row');
    row.dataset.job = id;
    const label = Object.assign(div('tl-id'), { textContent: `#${id}` });
    if (j.meta) {
      const m = Object.assign(document.createElement('span'), { className: 'tl-meta' });
      m.textContent = [j.meta.host, j.meta.priority ? `p${j.meta.priority}` : ''].filter(Boolean).join(' ');
      label.append(m);
      row.dataset.priority = j.meta.priority;
      if (j.meta.host) row.dataset.host = j.meta.host;
    }
    row.append(label);
    const track = div('tl-track');
    // The wait before the first attempt (still growing while the job is queued).
    const waited = waitEnd(j, t) - j.queued;
    row.dataset.waited = Math.round(waited);
    const wait = div('tl-wait');
    wait.style.left = pct(j.queued);
    wait.style.width = width(j.queued, j.queued + waited);
    wait.title = `${j.started === null ? (j.ended === null ? 'queued for' : 'cancelled after') : 'queued'} ${Math.round(waited)} ms before ${j.started === null && j.ended !== null ? 'it ever ran' : 'its first attempt'}`;
    track.append(wait);
    for (const b of j.backoffs) {
      const gap = div('tl-gap');
      gap.style.left = pct(b.start);
      gap.style.width = width(b.start, Math.min(b.end, t));
      gap.title = `backoff ${Math.round(b.end - b.start)} ms`;
      track.append(gap);
    }
    j.attempts.forEach((a) => {
      const bar = div(`tl-bar ${a.outcome}${a.hedge ? ' hedge' : ''}`);
      const stop = a.end ?? t;
      bar.style.left = pct(a.start);
      bar.style.width = width(a.start, stop);
      bar.title = `attempt ${a.n}${a.hedge ? ' (a hedge)' : ''}: ${LABEL[a.outcome]}, ${Math.round(stop - a.start)} ms`;
      bar.dataset.outcome = a.outcome;
      if (a.hedge) bar.dataset.hedge = 'true';
      track.append(bar);
    });
    row.append(track);
    return row;
  });

  const axis = div('tl-axis');
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const tick = div('tl-tick');
    tick.style.left = `${f * 100}%`;
    tick.textContent = f === 0 ? '0' : formatMs(span * f);
    axis.append(tick);
  }
  root.replaceChildren(...rows, axis);
}

/** Where a job's wait ends: its first attempt, its end (cancelled while queued), or now. */
function waitEnd(j, t) {
  return j.started ?? j.ended ?? t;
}

const LABEL = { ok: 'succeeded', failed: 'failed', timeout: 'timed out', cancel: 'cancelled', running: 'running' };

function formatMs(ms) {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

function div(className) {
  const d = document.createElement('div');
  d.className = className;
  return d;
}

function note(text) {
  return Object.assign(div('tl-note'), { textContent: text });
}
