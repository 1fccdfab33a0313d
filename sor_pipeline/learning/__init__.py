"""Per-venue models: RouterModel (scoring, persistence) and training."""

from sor_pipeline.learning.router_model import RouterModel, VenueModel
from sor_pipeline.learning.train import TrainConfig, VenueReport, train_router

__all__ = ["RouterModel", "TrainConfig", "VenueModel", "VenueReport", "train_router"]
