"""公务租车: the contracted rental providers (the admin keeps them) and the trips the dispatcher sends to one.

The lifecycle (approved → rented → completed, or cancelled) is `fleet.rentals`'."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.deps import Admin, RegistryReader, SessionDep, allow, scope_of, whole_platform
from api.errors import ErrorOut
from api.routes.trips import TripId, trip_out, visible
from api.schemas import RentalProviderOut, TripOut
from fleet import rentals
from fleet.enums import Role
from fleet.models import User
from fleet.schemas import RentalBillIn, RentalProviderIn, RentalProviderPatch, RentIn
from fleet.users import actor_of

RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
    422: {"model": ErrorOut}}
# The providers sit with the registry (the admin writes, the platform reads), rented trips with the trips.
providers_router = APIRouter(tags=["registry"], responses=RESPONSES)
trips_router = APIRouter(prefix="/trips", tags=["trips"], responses=RESPONSES)

Dispatcher = Annotated[User, Depends(allow(Role.dispatcher))]
ProviderCode = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]


@providers_router.post("/rental-providers", status_code=201, response_model=RentalProviderOut,
                       summary="Add a contracted rental provider (定点租赁企业) and its tariff")
def add_provider(body: RentalProviderIn, session: SessionDep, user: Admin) -> RentalProviderOut:
    """Providers serve the whole platform: only a whole-platform admin keeps them."""
    whole_platform(user, scope_of(session, user))
    return RentalProviderOut.model_validate(rentals.add_provider(session, actor_of(user), data=body))


@providers_router.get("/rental-providers", response_model=list[RentalProviderOut],
                      summary="The rental providers, by code")
def list_providers(session: SessionDep, user: RegistryReader, active: bool = False) -> list[RentalProviderOut]:
    return [RentalProviderOut.model_validate(p) for p in rentals.providers(session, active_only=active)]


@providers_router.patch("/rental-providers/{code}", response_model=RentalProviderOut,
                        summary="Change a provider's tariff, contract, seats or status")
def update_provider(code: ProviderCode, body: RentalProviderPatch, session: SessionDep,
                    user: Admin) -> RentalProviderOut:
    """Fields left out stay as they are; trips already rented keep their estimate."""
    whole_platform(user, scope_of(session, user))
    return RentalProviderOut.model_validate(rentals.update_provider(session, actor_of(user), code=code, data=body))


@trips_router.post("/{trip_id}/rent", response_model=TripOut,
                   summary="Send an approved trip the fleet did not serve to a rental provider (定点租赁)")
def rent(trip_id: TripId, body: RentIn, session: SessionDep, user: Dispatcher) -> TripOut:
    """The trip becomes ``rented`` with the tariff's estimate on its planned km and occupied hours. Refused (409)
    for a trip that is not approved or holds a vehicle, and for a provider that is inactive, whose contract ended
    before the trip's day or whose vehicles seat fewer than its passengers."""
    visible(session, user, trip_id)
    rentals.rent(session, actor_of(user), trip_id=trip_id, provider=body.provider)
    return trip_out(visible(session, user, trip_id))


@trips_router.post("/{trip_id}/rental-bill", response_model=TripOut,
                   summary="Close a rented trip with the provider's bill: km and invoice")
def rental_bill(trip_id: TripId, body: RentalBillIn, session: SessionDep, user: Dispatcher) -> TripOut:
    """The trip is completed; its rental cost becomes the invoice (default: the tariff on the km billed)."""
    visible(session, user, trip_id)
    rentals.bill(session, actor_of(user), trip_id=trip_id, data=body)
    return trip_out(visible(session, user, trip_id))
