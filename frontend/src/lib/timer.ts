// The timer on a kitchen card: how long until the time the customer was promised (or,
// with no promise, how long the order has waited), and how urgent that is.

const MINUTE = 60_000;

/** Within this many minutes of the promised time, a card turns amber. */
export const DUE_SOON_MINUTES = 5;
/** Without a promised time: amber after this many minutes of waiting … */
export const WAIT_SOON_MINUTES = 20;
/** … and red after this many. */
export const WAIT_LATE_MINUTES = 30;

export type TimerTone = 'ok' | 'soon' | 'late';

export interface Timer {
  /** What the card shows large: "12 min", "+3 min", "now", "1 h 05". */
  text: string;
  /** The small word under it: "left", "late", "due", "waiting". */
  caption: string;
  /** The whole sentence, for screen readers and the tooltip. */
  label: string;
  tone: TimerTone;
}

function minutesText(minutes: number): string {
  if (minutes < 60) return `${minutes} min`;
  const rest = minutes % 60;
  return `${Math.floor(minutes / 60)} h ${String(rest).padStart(2, '0')}`;
}

function plural(minutes: number): string {
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

/** `HH:MM` on this device's clock. */
export function clockTime(at: Date): string {
  return `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`;
}

/**
 * The timer of an order at `now`: counting down to `eta` when there is one (amber in
 * its last 5 minutes, red once it has passed), else counting up from `createdAt`
 * (amber after 20 minutes, red after 30).
 */
export function orderTimer(createdAt: string, eta: string | null | undefined, now: Date): Timer {
  if (eta) {
    const due = new Date(eta);
    const left = due.getTime() - now.getTime();
    const at = clockTime(due);
    if (left > 0) {
      const minutes = Math.ceil(left / MINUTE);
      return {
        text: minutesText(minutes),
        caption: 'left',
        label: `Promised for ${at}, in ${plural(minutes)}`,
        tone: minutes <= DUE_SOON_MINUTES ? 'soon' : 'ok',
      };
    }
    const late = Math.floor(-left / MINUTE);
    if (late < 1) {
      return { text: 'now', caption: 'due', label: `Promised for ${at}: due now`, tone: 'late' };
    }
    return {
      text: `+${minutesText(late)}`,
      caption: 'late',
      label: `Promised for ${at}, ${plural(late)} late`,
      tone: 'late',
    };
  }
  const waited = Math.max(0, Math.floor((now.getTime() - new Date(createdAt).getTime()) / MINUTE));
  return {
    text: minutesText(waited),
    caption: 'waiting',
    label: `Waiting ${plural(waited)}, no time promised`,
    tone: waited >= WAIT_LATE_MINUTES ? 'late' : waited >= WAIT_SOON_MINUTES ? 'soon' : 'ok',
  };
}

/** The quick choices on "Confirm": ready in this many minutes. */
export const READY_IN_MINUTES: readonly number[] = [10, 20, 30, 45];
/** The quick choices on "Delay": this many minutes more. */
export const DELAY_BY_MINUTES: readonly number[] = [10, 15, 30];

/** The promised time `minutes` from `now`, to the minute, as the API takes it. */
export function readyIn(minutes: number, now: Date): string {
  const at = new Date(now.getTime() + minutes * MINUTE);
  at.setSeconds(0, 0);
  return at.toISOString();
}

/**
 * The promised time pushed back by `minutes`: from the time promised so far, or from
 * now when that has passed or none was promised (a delay never promises the past).
 */
export function delayedBy(minutes: number, eta: string | null | undefined, now: Date): string {
  const promised = eta ? new Date(eta).getTime() : Number.NaN;
  const from = Number.isFinite(promised) && promised > now.getTime() ? promised : now.getTime();
  const at = new Date(from + minutes * MINUTE);
  at.setSeconds(0, 0);
  return at.toISOString();
}
