// One shared "now" for ages and timers on the page, ticking every 5 seconds.

class Clock {
  now = $state(new Date());

  constructor() {
    if (typeof window !== 'undefined') {
      setInterval(() => {
        this.now = new Date();
      }, 5_000);
    }
  }
}

export const clock = new Clock();
