/** Process state shared by server.ts (which changes it) and the routes (which report it). */
export class Lifecycle {
  shuttingDown = false;
}
