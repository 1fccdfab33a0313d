"""Per-venue models: RouterModel (scoring, persistence) and training."""

from sor_pipeline.models.router import RouterModel, VenueModel
from sor_pipeline.models.train import TrainConfig, VenueReport, train_router

__all__ = ["RouterModel", "TrainConfig", "VenueModel", "VenueReport", "train_router"]
