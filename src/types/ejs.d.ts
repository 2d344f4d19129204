/** The part of EJS 7's API this app uses (EJS 7 ships no type declarations). */
declare module 'ejs' {
  export interface Options {
    /** The template's path, named in errors. */
    filename?: string;
    /** Line tracking and a try/catch in the compiled function, for errors that name the template line. Default true. */
    compileDebug?: boolean;
    /** Use the locals object as given instead of copying its own properties into a fresh one. Default false. */
    unsafePrototypeLocals?: boolean;
  }
  export type TemplateFunction = (data?: Record<string, unknown>) => string;
  export function compile(template: string, options?: Options): TemplateFunction;
  /** What `<%= %>` does to a value: & < > ' " as character references. */
  export function escapeXML(markup: unknown): string;
  const ejs: { compile: typeof compile; escapeXML: typeof escapeXML };
  export default ejs;
}
