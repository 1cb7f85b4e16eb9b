"""The model, its inputs and its results.

- schema: the vocabulary (feature types, FeatureSpec, the schema format, a model directory's files).
- artifact: a deployed Model, and our model directories (build_schema, save_model, load_ours).
- mlflow_model: MLflow model directories as a Model (every flavour; requirements, code_paths).
- native: the libraries' own formats beside schema.json (XGBoost, LightGBM, CatBoost, ONNX).
- loading: load_model, which kind of directory it is, and the cache.
- profile: the training profile the quality report compares a job with.
- quality: a job's data quality check (row_status and the quality report).
- predictions: prediction(input_file), the article's contract: one job from upload to result files.
- trial: trying a model on a few rows before it is deployed (what runs it, whether it scores).
- messages: a model's error messages made fit to show (one line, shortened, no paths).
- train: the default model (python -m model.train).
- inputs/: reading uploads (the check, conversions, the job's reader, workbooks).
- results/: writing results (the .xlsx, its CSV twin, the cell rules they share).
"""
