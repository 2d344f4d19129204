/**
 * createApp(deps) → the Express app. It never listens and does no I/O at import time: server.ts
 * starts it, tests drive it with supertest.
 */
import path from 'node:path';
import express, { type Express } from 'express';
import { type Config, projectRoot } from './src/config';
import { errorHandler, type ErrorLogger, notFoundHandler } from './src/http/errors';
import { apiRoutes, healthRoutes, pageRoutes } from './src/http/routes';
import { Lifecycle } from './src/lifecycle';
import type { Registry } from './src/predictors/registry';

export interface AppDeps {
  config: Config;
  registry: Registry;
  lifecycle?: Lifecycle;
  log?: ErrorLogger;
}

const consoleLogger: ErrorLogger = {
  error: (obj, msg) => console.error(msg, obj),
};

export function createApp(deps: AppDeps): Express {
  const root = projectRoot();
  const routeDeps = { ...deps, lifecycle: deps.lifecycle ?? new Lifecycle() };
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 1); // Heroku's router terminates TLS and sets X-Forwarded-*
  app.set('views', path.join(root, 'views'));
  app.set('view engine', 'ejs');
  app.locals.rmWhitespace = false;
  if (deps.config.env === 'production') app.enable('view cache');

  app.use(healthRoutes(routeDeps));
  app.use(express.static(path.join(root, 'public'), { maxAge: deps.config.env === 'production' ? '1h' : 0 }));
  app.use(pageRoutes(routeDeps));
  app.use('/api', apiRoutes(routeDeps));
  app.use(notFoundHandler());
  app.use(errorHandler(routeDeps, deps.log ?? consoleLogger));
  return app;
}
