// What the browser suites' node drivers (tests/sdk, tests/portal, tests/demo)
// share: a required environment variable, and headless Chromium
// (playwright-core with Debian's /usr/bin/chromium, or $CHROMIUM) launched
// with the suites' flags.
import { chromium } from "playwright-core";

/** The environment variable `name`; throws when it is not set. */
export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

/** The flags every suite launches Chromium with. */
export const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"];

/** Launches headless Chromium with `args` (default FLAGS) and more playwright launch options. */
export const launchChromium = ({ args = FLAGS, ...options } = {}) =>
  chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args, ...options });
