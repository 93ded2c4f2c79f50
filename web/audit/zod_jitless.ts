/**
 * Turns zod's compiled parsers off before any schema is built. zod decides per object
 * schema, when the schema is constructed (at import of src/core), whether to compile a fast
 * path with `new Function`, probing whether eval is allowed; the page's CSP has no
 * `'unsafe-eval'`, so the probe would be refused and reported as a violation. Imported first
 * by main.ts: ES modules evaluate in import order, so this runs before src/core's schemas.
 *
 * @module
 */
import { z } from "zod";

z.config({ jitless: true });
