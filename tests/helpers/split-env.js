// Before any test module loads: tests/helpers/oip.ts reads this to put the models behind a model tier.
process.env.ML_FORMS_SPLIT = '1';
