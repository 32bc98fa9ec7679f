// One shared "now" for ages on the page, ticking every 15 seconds.

class Clock {
  now = $state(new Date());

  constructor() {
    if (typeof window !== 'undefined') {
      setInterval(() => {
        this.now = new Date();
      }, 15_000);
    }
  }
}

export const clock = new Clock();
