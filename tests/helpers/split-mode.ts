/**
 * setupFilesAfterEnv of the jest project "split": the HTTP tests again, with every model behind a
 * model tier on a loopback port (see tests/helpers/oip.ts). The tier each test file starts is
 * closed after it.
 */
import { closeModelTiers } from './oip';

afterAll(closeModelTiers);
