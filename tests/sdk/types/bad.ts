// Must NOT compile: the test checks tsc names the unknown parameter.
import type { Client } from "@flare/smart";

export async function misspelt(c: Client): Promise<void> {
  await c.search("Observation", { patient: "p1", colour: "red" });
}
