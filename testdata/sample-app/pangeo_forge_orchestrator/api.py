import os

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health():
    return {"deployment": os.environ.get("PANGEO_FORGE_DEPLOYMENT", "unknown")}
