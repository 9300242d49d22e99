"""MusicVAE Studio: a local web app over TrainedModel (Generate, Interpolate, Blend pad,
Attributes, Models), served by FastAPI + uvicorn with a static single-page UI (studio/static).

Modules: limits (request bounds), clips (note JSON <-> NoteSequence, MIDI, zip, bar windows),
mixing (bilinear blend of codes), registry (models, one lock each), service (the operations),
app (the JSON API and static files), server (uvicorn). Needs the `studio` extra.
"""
