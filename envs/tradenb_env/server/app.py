"""The served tradenb environment: OpenEnv's app from `tradenb.server.create_app`.

    uvicorn server.app:app --host 0.0.0.0 --port 8000      # or: python -m server.app, uv run server
"""
import os

from tradenb.server import create_app

app = create_app(max_sessions=int(os.environ.get("TRADENB_MAX_SESSIONS", "64")))


def main(host: str = "0.0.0.0", port: int = int(os.environ.get("PORT", "8000"))):
    "Serve `app` with uvicorn (blocks)."
    import uvicorn
    uvicorn.run(app, host=host, port=port, log_level="warning")


if __name__ == "__main__":
    main()
