// The card is entered in Stripe.js Elements and confirmed with Stripe from the browser; our
// server only ever receives the id of the SetupIntent that saved it.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("card-form");
  if (form) {
    const stripe = Stripe(form.dataset.publishableKey);
    const card = stripe.elements().create("card");
    card.mount("#card-element");
    const errors = document.getElementById("card-errors");
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      errors.textContent = "";
      const result = await stripe.confirmCardSetup(form.dataset.clientSecret, {
        payment_method: { card },
      });
      if (result.error) {
        errors.textContent = (result.error.message || "The card was declined.") +
          " Nothing was charged. Reload the page to try another card.";
        return;
      }
      form.querySelector("[name=setup_intent]").value = result.setupIntent.id;
      form.submit();
    });
  }
  const action = document.getElementById("card-action");
  if (action) {
    const stripe = Stripe(action.dataset.publishableKey);
    document.getElementById("authenticate").addEventListener("click", async (event) => {
      event.target.disabled = true;
      await stripe.confirmCardPayment(action.dataset.clientSecret);
      window.location = action.dataset.returnUrl;
    });
  }
});
