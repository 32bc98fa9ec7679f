// Starts the dashboard. A first-start link's key is taken out of the address bar before
// anything renders, so it is never left in the URL or the history.
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { session } from './lib/session.svelte';
import { takeKeyFromLocation } from './lib/router.svelte';

const firstStartKey = takeKeyFromLocation();
if (!firstStartKey) session.restore();

mount(App, { target: document.getElementById('app')!, props: { firstStartKey } });
