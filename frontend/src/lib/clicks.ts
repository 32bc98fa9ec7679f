// A double click must act once: its second click may land on whatever the first one's
// answer put under the pointer (the next step's button, another order's card).

/** A click that is not the second (or later) of a double click; keys give 0. */
export function firstClick(event: MouseEvent): boolean {
  return event.detail <= 1;
}
