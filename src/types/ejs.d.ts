/** The part of EJS 7's API this app uses (EJS 7 ships no type declarations). */
declare module 'ejs' {
  export interface Options {
    /** The template's path, named in errors. */
    filename?: string;
  }
  export type TemplateFunction = (data?: Record<string, unknown>) => string;
  export function compile(template: string, options?: Options): TemplateFunction;
  const ejs: { compile: typeof compile };
  export default ejs;
}
