/** Runs in every test file (jest.config.js): answers from the app are checked against its OpenAPI document. */
import { installAnswerCheck } from './openapi-check';

installAnswerCheck();
