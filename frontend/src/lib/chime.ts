// The new-order chime: two short tones made with Web Audio (no sound file to load), and
// the mute switch, remembered on this device.

const MUTED = 'order-notify.muted';

let context: AudioContext | null = null;

function audio(): AudioContext | null {
  if (context) return context;
  const Context = globalThis.AudioContext ?? (globalThis as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
  if (!Context) return null;
  context = new Context();
  return context;
}

/**
 * Browsers let a page make sound only after the user touched it: the first tap or key
 * anywhere unlocks the chime for the rest of the visit.
 */
export function unlockSoundOnFirstTouch(): () => void {
  const unlock = () => {
    void audio()?.resume();
    remove();
  };
  const remove = () => {
    window.removeEventListener('pointerdown', unlock);
    window.removeEventListener('keydown', unlock);
  };
  window.addEventListener('pointerdown', unlock);
  window.addEventListener('keydown', unlock);
  return remove;
}

/** Plays the chime (a rising pair of tones, about half a second) unless muted. */
export function chime(): void {
  if (isMuted()) return;
  const ctx = audio();
  if (!ctx) return;
  void ctx.resume();
  const start = ctx.currentTime + 0.02;
  [880, 1320].forEach((frequency, index) => {
    const at = start + index * 0.18;
    const tone = ctx.createOscillator();
    const gain = ctx.createGain();
    tone.type = 'sine';
    tone.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.4, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.3);
    tone.connect(gain).connect(ctx.destination);
    tone.start(at);
    tone.stop(at + 0.32);
  });
}

export function isMuted(): boolean {
  try {
    return localStorage.getItem(MUTED) === 'true';
  } catch {
    return false;
  }
}

export function setMuted(muted: boolean): void {
  try {
    if (muted) localStorage.setItem(MUTED, 'true');
    else localStorage.removeItem(MUTED);
  } catch {
    // Storage refused (private mode): the switch lasts for this visit only.
  }
}
